/** The parts of `/health/detail` both services share: build, times, OS and memory. */
import os from 'node:os';
import { buildInfo } from './build-info.js';

export function processHealth(startTime: Date) {
  const mem = process.memoryUsage();
  return {
    buildInfo: buildInfo(),
    startTime: startTime.toISOString(),
    os: {
      hostname: os.hostname(),
      upTime: os.uptime(),
      freemem: os.freemem(),
      loadavg: os.loadavg(),
      totalmem: os.totalmem(),
    },
    upTime: Date.now() - startTime.getTime(),
    memoryUsage: {
      rss: mem.rss,
      heapTotal: mem.heapTotal,
      heapUsed: mem.heapUsed,
      external: mem.external,
      arrayBuffers: mem.arrayBuffers,
    },
  };
}
