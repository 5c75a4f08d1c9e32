// The Auth service, minimal (etcd's v3rpc auth.go with authentication never enabled): Meridian has no users or
// roles yet, so every answer is the one etcd gives for an empty auth store with authentication disabled, and
// the calls that would create users or roles say plainly that they are not supported.

import type * as grpc from '@grpc/grpc-js';
import { headerToPb } from './convert.js';
import { EtcdServerError, type EtcdServerErrorCode } from './errors.js';
import { type ServiceContext, unary } from './rpc_util.js';

export function authService(ctx: ServiceContext): grpc.UntypedServiceImplementation {
  const header = (): unknown => headerToPb(ctx.backend.header());
  const fail = (code: EtcdServerErrorCode): ReturnType<typeof unary> => unary(() => Promise.reject(new EtcdServerError(code)));
  return {
    // etcd refuses to enable authentication without a root user, and there is none.
    AuthEnable: fail('ErrRootUserNotExist'),
    AuthDisable: unary(() => Promise.resolve({ header: header() })),
    AuthStatus: unary(() => Promise.resolve({ header: header(), enabled: false, authRevision: 0 })),
    Authenticate: fail('ErrAuthNotEnabled'),
    UserAdd: fail('ErrAuthNotSupported'),
    UserGet: fail('ErrUserNotFound'),
    UserList: unary(() => Promise.resolve({ header: header(), users: [] })),
    UserDelete: fail('ErrUserNotFound'),
    UserChangePassword: fail('ErrUserNotFound'),
    UserGrantRole: fail('ErrUserNotFound'),
    UserRevokeRole: fail('ErrUserNotFound'),
    RoleAdd: fail('ErrAuthNotSupported'),
    RoleGet: fail('ErrRoleNotFound'),
    RoleList: unary(() => Promise.resolve({ header: header(), roles: [] })),
    RoleDelete: fail('ErrRoleNotFound'),
    RoleGrantPermission: fail('ErrRoleNotFound'),
    RoleRevokePermission: fail('ErrRoleNotFound'),
  };
}
