import { describe, expect, it } from 'vitest';
import { toMessage } from './turns.js';

const chips = [{ text: 'Track my order', payload: 'TRACK' }, { text: 'Talk to a person' }];

describe('toMessage: a bot reply as a chat message', () => {
  it('in chat, a reply of only quick replies has no text: the widget draws the chips', () => {
    expect(toMessage({ quickReplies: chips }, true)).toEqual({ content: { quickReplies: chips } });
  });

  it('in chat, the bot’s own text stays next to its quick replies', () => {
    expect(toMessage({ text: 'What can I do for you?', quickReplies: chips }, true)).toEqual({
      text: 'What can I do for you?',
      content: { quickReplies: chips },
    });
  });

  it('in chat, an image alone is an attachment without text', () => {
    expect(toMessage({ image: 'https://cdn.example.com/a.png' }, true)).toEqual({
      content: { attachments: [{ url: 'https://cdn.example.com/a.png' }] },
    });
  });

  it('in chat, cards without text have no text: the widget draws them with their buttons', () => {
    const cards = [{ title: 'Premium', subtitle: '10 GB', buttons: [{ text: 'Details', payload: 'd' }] }];
    expect(toMessage({ cards, quickReplies: chips }, true)).toEqual({
      content: { quickReplies: chips, cards },
    });
  });

  it('on a channel that cannot draw cards (SMS), a card is said in words', () => {
    const cards = [{ title: 'Premium', subtitle: '10 GB', buttons: [{ text: 'Details', payload: 'd' }] }];
    expect(toMessage({ cards }, false)).toEqual({ text: 'Premium — 10 GB\n• Details' });
  });

  it('on a channel that cannot draw chips (SMS), quick replies become numbered text', () => {
    expect(toMessage({ quickReplies: chips }, false)).toEqual({
      text: '1) Track my order  2) Talk to a person',
    });
    expect(toMessage({ text: 'Pick one', quickReplies: chips }, false)).toEqual({
      text: 'Pick one\n1) Track my order  2) Talk to a person',
    });
  });

  it('a reply with nothing to show is no message', () => {
    expect(toMessage({}, true)).toBeUndefined();
    expect(toMessage({}, false)).toBeUndefined();
  });
});
