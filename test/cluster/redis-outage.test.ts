/** Redis restarted under two nodes: standalone and over TLS (the suite is in redis-outage.ts). */
import { redisOutageSuite } from './redis-outage.js';

redisOutageSuite(['standalone', 'tls']);
