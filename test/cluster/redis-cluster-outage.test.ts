/**
 * The whole Redis Cluster (3 masters) killed under two nodes and started again, plain and over TLS
 * (TLS on the cluster bus too): the suite is in redis-outage.ts.
 */
import { redisOutageSuite } from './redis-outage.js';

redisOutageSuite(['cluster', 'cluster-tls']);
