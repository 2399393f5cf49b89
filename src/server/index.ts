export { assertListenAllowed, isLoopbackHost, listen, type ListenOptions } from './listen.js';
export {
  API_PREFIX,
  BODY_LIMIT_BYTES,
  buildServer,
  type ServerDependencies,
  type ServerOptions,
  type TlsMaterial,
} from './server.js';
export { readTlsFiles } from './tls.js';
