import { describe, expect, it } from 'vitest';
import { DEFAULT_HANDOFF_REASON, names, readCustomPayload } from './custom-payload.js';

describe('readCustomPayload', () => {
  it('reads our shape: text, quick replies (strings or objects), cards, image, handoff, end, suggestions', () => {
    const r = readCustomPayload({
      text: 'Choose',
      quickReplies: ['Yes', { text: 'No', payload: '/deny' }, { nothing: 1 }],
      cards: [
        {
          title: 'Plan',
          subtitle: 'Cheap',
          buttons: [
            { text: 'Buy', url: 'https://x.example/buy' },
            { title: 'More', value: 'more' },
          ],
        },
        { subtitle: 'no title' },
      ],
      image: 'https://x.example/a.png',
      handoff: { queue: 'sales' },
      endConversation: true,
      suggestions: ['Offer a refund', { text: 'Escalate', confidence: 0.4 }],
      channel: 'web',
    });
    expect(r.reply).toEqual({
      text: 'Choose',
      quickReplies: [{ text: 'Yes' }, { text: 'No', payload: '/deny' }],
      cards: [
        {
          title: 'Plan',
          subtitle: 'Cheap',
          buttons: [
            { text: 'Buy', url: 'https://x.example/buy' },
            { text: 'More', payload: 'more' },
          ],
        },
      ],
      image: 'https://x.example/a.png',
      custom: { channel: 'web' },
    });
    expect(r.handoff).toEqual({ queue: 'sales', reason: DEFAULT_HANDOFF_REASON });
    expect(r.endConversation).toBe(true);
    expect(r.suggestions).toEqual([{ text: 'Offer a refund' }, { text: 'Escalate', confidence: 0.4 }]);
  });

  it('reads Dialogflow Messenger rich content', () => {
    const r = readCustomPayload({
      richContent: [
        [
          { type: 'description', title: 'Our plans', text: ['Two of them.'] },
          {
            type: 'info',
            title: 'Basic',
            subtitle: '1 GB',
            image: { src: { rawUrl: 'https://x.example/b.png' } },
            actionLink: 'https://x.example/basic',
          },
          { type: 'button', text: 'Pick Basic', event: { event: 'pick-basic' } },
        ],
        [
          { type: 'button', text: 'Call us', link: 'tel:+441234' },
          { type: 'image', rawUrl: 'https://x.example/c.png' },
          { type: 'chips', options: [{ text: 'Basic' }, { text: 'Premium' }] },
          { type: 'list', title: 'Something else', event: { event: 'other' } },
          { type: 'accordion', title: 'ignored' },
        ],
      ],
    });
    expect(r.reply).toEqual({
      text: 'Our plans\nTwo of them.',
      cards: [
        {
          title: 'Basic',
          subtitle: '1 GB',
          imageUrl: 'https://x.example/b.png',
          buttons: [
            { text: 'Basic', url: 'https://x.example/basic' },
            { text: 'Pick Basic', payload: 'pick-basic' },
          ],
        },
        { title: 'Call us', buttons: [{ text: 'Call us', url: 'tel:+441234' }] },
      ],
      image: 'https://x.example/c.png',
      quickReplies: [{ text: 'Basic' }, { text: 'Premium' }, { text: 'Something else', payload: 'other' }],
    });
  });

  it('a bare handoff, and anything that is not an object, say nothing more than they say', () => {
    expect(readCustomPayload({ handoff: true })).toEqual({ handoff: { reason: DEFAULT_HANDOFF_REASON } });
    expect(readCustomPayload('text')).toEqual({});
    expect(readCustomPayload([1, 2])).toEqual({});
    expect(readCustomPayload({ richContent: 'nope', quickReplies: 'nope', cards: {} })).toEqual({});
  });
});

describe('names', () => {
  it('takes a list or a comma-separated string', () => {
    expect([...names(['A', '', 3, 'B'])]).toEqual(['A', 'B']);
    expect([...names(' A , B,,')]).toEqual(['A', 'B']);
    expect([...names(undefined, ['X'])]).toEqual(['X']);
  });
});
