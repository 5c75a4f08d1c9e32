// grpc.health.v1.Health as etcd serves it: the whole server under the service name "" (etcd registers no
// other name), SERVING while the server runs; Watch sends the status once and stays open until cancelled.

import type * as grpc from '@grpc/grpc-js';
import { stringField, type PbOut } from './convert.js';
import { EtcdServerError } from './errors.js';
import { asMessage, unary } from './rpc_util.js';

/** HealthCheckResponse.ServingStatus. */
export const ServingStatus = { Unknown: 0, Serving: 1, NotServing: 2, ServiceUnknown: 3 } as const;
export type ServingStatus = (typeof ServingStatus)[keyof typeof ServingStatus];

/** The only service name the server reports on, as etcd. */
const WHOLE_SERVER = '';

export function healthService(): grpc.UntypedServiceImplementation {
  const Watch: grpc.handleServerStreamingCall<unknown, PbOut> = (call) => {
    const known = stringField(asMessage(call.request), 'service') === WHOLE_SERVER;
    call.write({ status: known ? ServingStatus.Serving : ServingStatus.ServiceUnknown });
  };
  return {
    Check: unary((req) => {
      if (stringField(req, 'service') !== WHOLE_SERVER) {
        return Promise.reject(new EtcdServerError('ErrUnknownService'));
      }
      return Promise.resolve({ status: ServingStatus.Serving });
    }),
    Watch,
  };
}
