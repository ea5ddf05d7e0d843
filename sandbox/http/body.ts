import type { IncomingMessage } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ApiError, badRequest } from '../api-error.ts';
import { decodeProtobufObject } from '../protobuf.ts';

/** Largest request body accepted (kube-apiserver's limit is 3 MiB for objects). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024 + 64 * 1024;

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Decodes an object body (create/update/delete options) by its Content-Type. */
export function decodeObjectBody(body: Buffer, contentType: string | undefined): unknown {
  const mt = mediaType(contentType);
  if (mt === 'application/vnd.kubernetes.protobuf') return decodeProtobufObject(body);
  if (mt === 'application/yaml' || mt === 'application/apply-patch+yaml') return decodeYaml(body);
  if (mt === '' || mt === 'application/json' || mt === '*/*') return decodeJson(body);
  throw new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`,
  );
}

export function decodeJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw badRequest(`error decoding request body: ${(e as Error).message}`);
  }
}

export function decodeYaml(body: Buffer): unknown {
  try {
    return parseYaml(body.toString('utf8'), { maxAliasCount: 100 });
  } catch (e) {
    throw badRequest(`error decoding YAML: ${(e as Error).message}`);
  }
}
