import { describe, expect, it } from 'vitest';
import { Router } from './router.js';

const h = () => ({ data: {} });

describe('Router', () => {
  const router = new Router()
    .get('/nexus/v3/provisioning/tenants/:ccid', h)
    .put('/nexus/v3/provisioning/tenants/:ccid', h)
    .get('/nexus/v3/provisioning/tenants/defaults', h)
    .post('/nexus/v3/provisioning/services/:ccid/:serviceName', h)
    .get('/ux/*', h);

  const route = (m: string, p: string) => {
    const found = router.match(m, p);
    return found && 'route' in found ? { pattern: found.route.pattern, params: found.params } : found;
  };

  it('matches parameters, decoded', () => {
    expect(route('POST', '/nexus/v3/provisioning/services/cc%201/SMS')).toEqual({
      pattern: '/nexus/v3/provisioning/services/:ccid/:serviceName',
      params: { ccid: 'cc 1', serviceName: 'SMS' },
    });
  });

  it('prefers a static segment over a parameter', () => {
    expect(route('GET', '/nexus/v3/provisioning/tenants/defaults')).toMatchObject({
      pattern: '/nexus/v3/provisioning/tenants/defaults',
    });
    expect(route('GET', '/nexus/v3/provisioning/tenants/other')).toMatchObject({
      params: { ccid: 'other' },
    });
  });

  it('takes the rest of the path for a wildcard', () => {
    expect(route('GET', '/ux/conv/assets/app.js')).toEqual({
      pattern: '/ux/*',
      params: { '*': 'conv/assets/app.js' },
    });
  });

  it('answers HEAD with the GET route', () => {
    expect(route('HEAD', '/nexus/v3/provisioning/tenants/x')).toMatchObject({ params: { ccid: 'x' } });
  });

  it('says which methods a known path allows', () => {
    expect(router.match('DELETE', '/nexus/v3/provisioning/tenants/x')).toEqual({ allowed: ['GET', 'PUT'] });
  });

  it('has nothing for an unknown path, a path too long or short, or a bad escape', () => {
    expect(router.match('GET', '/nexus/v3/nothing')).toBeUndefined();
    expect(router.match('GET', '/nexus/v3/provisioning/tenants/x/extra')).toBeUndefined();
    expect(router.match('POST', '/nexus/v3/provisioning/services/cc')).toBeUndefined();
    expect(router.match('GET', '/nexus/v3/provisioning/tenants/%E0%A4%A')).toBeUndefined();
  });

  it('ignores a trailing slash', () => {
    expect(route('GET', '/nexus/v3/provisioning/tenants/x/')).toMatchObject({ params: { ccid: 'x' } });
  });
});
