/** Provisioned services: what other modules (plugins, athena, inbound providers) may import. */
export {
  KNOWN_SERVICE_NAMES,
  parseServiceBody,
  type ServiceBody,
  secretFields,
  serviceSchema,
} from './schemas.js';
export { createServiceStore, type ServiceStoreDeps, secretAad } from './store.js';
export {
  SERVICES_CHANGED,
  type ServiceChange,
  type ServiceReader,
  type ServiceRecord,
  type ServiceStore,
  type ServiceWithSecret,
  type ServiceWriter,
} from './types.js';
