import type { Logger } from 'pino';

/** The fields of a request that may be logged: never headers, bodies or the query string. */
interface LoggedRequest {
  method: string;
  url: string;
  remoteAddress: string | undefined;
}

interface RequestLike {
  method?: string;
  url?: string;
  ip?: string;
  socket?: { remoteAddress?: string | undefined };
}

/** Returns the path of a request URL without its query string, which may carry values not meant for logs. */
export function pathOf(url: string): string {
  const queryStart = url.indexOf('?');
  return queryStart === -1 ? url : url.slice(0, queryStart);
}

/**
 * Serializes a Fastify request, or a raw Node request, by allow-list: method, path and client
 * address. The Authorization header, other headers and the body are never logged.
 */
function serializeRequest(request: RequestLike): LoggedRequest {
  return {
    method: request.method ?? '',
    url: pathOf(request.url ?? ''),
    remoteAddress: request.ip ?? request.socket?.remoteAddress,
  };
}

function serializeReply(reply: { statusCode?: number }): { statusCode: number | undefined } {
  return { statusCode: reply.statusCode };
}

/** Returns a child of the service logger whose `req` and `res` serializers keep only allow-listed fields. */
export function createHttpLogger(logger: Logger): Logger {
  return logger.child(
    { component: 'http' },
    { serializers: { req: serializeRequest, res: serializeReply } },
  );
}
