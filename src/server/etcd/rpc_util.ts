// What every service of the etcd API shares (etcd's v3rpc util.go and header.go): the call context, the unary
// call wrapper that turns thrown errors into etcd's statuses, and the checks done before a command is proposed.

import type * as grpc from '@grpc/grpc-js';
import { AssertionError } from '../../util/assert.js';
import { RequestTooLargeError } from '../../kv/errors.js';
import type { Command, CommandResponse } from '../../kv/rpc.js';
import { validateCommand } from '../../kv/state_machine.js';
import type { EtcdBackend } from './backend.js';
import type { PbMessage, PbOut } from './convert.js';
import { toGrpcStatus } from './errors.js';
import type { EtcdGrpcLimits } from './limits.js';

/** What the services of one server share. */
export interface ServiceContext {
  readonly backend: EtcdBackend;
  readonly limits: EtcdGrpcLimits;
  /** Encoded bytes of a request message as it arrived (recorded by the server's deserializer). */
  requestBytes(request: PbMessage): number;
}

/** The status object grpc-js ends a call with. */
export function serviceError(err: unknown): Partial<grpc.StatusObject> {
  rethrowProgrammerError(err);
  const { code, details } = toGrpcStatus(err);
  return { code, details };
}

/**
 * A failed assertion is a bug: the caller gets INTERNAL, then the process crashes as the house rules want,
 * outside the call's promise chain so nothing swallows it.
 */
export function rethrowProgrammerError(err: unknown): void {
  if (err instanceof AssertionError) {
    setImmediate(() => {
      throw err;
    });
  }
}

/** Narrows a decoded request (proto-loader always gives an object). */
export function asMessage(request: unknown): PbMessage {
  return typeof request === 'object' && request !== null ? (request as PbMessage) : {};
}

/** A unary handler: resolves with the response message or throws a coded error. */
export type UnaryHandler = (request: PbMessage) => Promise<PbOut>;

export function unary(handler: UnaryHandler): grpc.handleUnaryCall<unknown, PbOut> {
  return (call, callback) => {
    let result: Promise<PbOut>;
    try {
      result = handler(asMessage(call.request));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (response) => callback(null, response),
      (err: unknown) => callback(serviceError(err)),
    );
  };
}

/**
 * Proposes a command after etcd's gRPC-layer checks, so an invalid or oversized request never enters the log:
 * validation first (etcd's checkXRequest), then the encoded size (etcd's check in processInternalRaftRequest).
 */
export async function proposeChecked(ctx: ServiceContext, request: PbMessage, command: Command): Promise<CommandResponse> {
  const invalid = validateCommand(command);
  if (invalid !== null) throw invalid;
  if (ctx.requestBytes(request) > ctx.limits.maxRequestBytes) throw new RequestTooLargeError();
  return ctx.backend.propose(command);
}

/** The response of the expected type; another one is the backend's bug. */
export function expectResponse<T extends CommandResponse['type']>(
  response: CommandResponse,
  type: T,
): Extract<CommandResponse, { readonly type: T }> {
  if (response.type !== type) throw new AssertionError(`backend answered a ${type} proposal with a ${response.type} response`);
  return response as Extract<CommandResponse, { readonly type: T }>;
}
