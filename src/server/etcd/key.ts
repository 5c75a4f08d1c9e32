// The KV service (etcd's v3rpc key.go): Range is served by the member locally, the writes are validated here
// and proposed, and every response carries the header with the revision the operation saw or made.

import type * as grpc from '@grpc/grpc-js';
import { validateCommand } from '../../kv/state_machine.js';
import {
  clampedInt64Field, boolField, deleteRangeRequestFromPb, deleteRangeResponseToPb, headerToPb, putRequestFromPb,
  putResponseToPb, rangeRequestFromPb, rangeResponseToPb, txnRequestFromPb, txnResponseToPb,
} from './convert.js';
import { expectResponse, proposeChecked, type ServiceContext, unary } from './rpc_util.js';
import { readOptionsFromMetadata, servedToMetadata, unaryWithMetadata } from './read_metadata.js';

export function kvService(ctx: ServiceContext): grpc.UntypedServiceImplementation {
  const { backend } = ctx;
  return {
    // The read path comes from Meridian's metadata (read_metadata.ts); without it, from etcd's serializable flag.
    Range: unaryWithMetadata(async (req, md) => {
      const range = rangeRequestFromPb(req);
      const invalid = validateCommand({ type: 'range', range });
      if (invalid !== null) throw invalid;
      const options = readOptionsFromMetadata(md, range.serializable);
      if (backend.read === undefined) return { response: rangeResponseToPb(backend.header(), await backend.range(range)) };
      const { response, served } = await backend.read(range, options);
      return { response: rangeResponseToPb(backend.header(), response), metadata: servedToMetadata(served) };
    }),
    Put: unary(async (req) => {
      const res = await proposeChecked(ctx, req, { type: 'put', put: putRequestFromPb(req) });
      return putResponseToPb(backend.header(), expectResponse(res, 'put').put);
    }),
    DeleteRange: unary(async (req) => {
      const res = await proposeChecked(ctx, req, { type: 'deleteRange', deleteRange: deleteRangeRequestFromPb(req) });
      return deleteRangeResponseToPb(backend.header(), expectResponse(res, 'deleteRange').deleteRange);
    }),
    Txn: unary(async (req) => {
      const res = await proposeChecked(ctx, req, { type: 'txn', txn: txnRequestFromPb(req) });
      return txnResponseToPb(backend.header(), expectResponse(res, 'txn').txn);
    }),
    Compact: unary(async (req) => {
      const command = { type: 'compact', revision: clampedInt64Field(req, 'revision'), physical: boolField(req, 'physical') } as const;
      const res = await proposeChecked(ctx, req, command);
      return { header: headerToPb(backend.header(), expectResponse(res, 'compact').revision) };
    }),
  };
}
