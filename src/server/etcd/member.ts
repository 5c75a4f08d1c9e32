// The Cluster service (etcd's v3rpc member.go): membership changes go to the member, which runs them as Raft
// configuration changes; peer URLs are checked here as etcd's types.NewURLs checks them.

import type * as grpc from '@grpc/grpc-js';
import { type NodeId, nodeId } from '../../util/branded.js';
import { boolField, headerToPb, memberToPb, type PbMessage, safeIdField, stringsField } from './convert.js';
import { EtcdServerError } from './errors.js';
import type { MemberInfo } from './backend.js';
import { type ServiceContext, unary } from './rpc_util.js';
import { forceFromMetadata, unaryWithMetadata } from './read_metadata.js';

const URL_SCHEMES = new Set(['http', 'https', 'unix', 'unixs']);
/** scheme://authority followed by nothing (no path, query or fragment). */
const URL_SHAPE = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)$/;
/** host:port, the host a name, an IPv4 address or a bracketed IPv6 address; the port explicit. */
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):\d{1,5}$/;

/**
 * etcd's types.NewURLs rules: at least one URL, each with an http(s) or unix(s) scheme, a host with an
 * explicit port, and no path. Anything else is "etcdserver: given member URLs are invalid".
 */
export function checkPeerUrls(urls: readonly string[]): void {
  if (urls.length === 0) throw new EtcdServerError('ErrMemberBadURLs');
  for (const text of urls) {
    const m = URL_SHAPE.exec(text);
    if (m === null || !URL_SCHEMES.has((m[1] ?? '').toLowerCase()) || !HOST_PORT.test(m[2] ?? '')) {
      throw new EtcdServerError('ErrMemberBadURLs');
    }
  }
}

/** A member id of a request: one the store cannot hold names no member. */
function memberIdField(req: PbMessage, name: string): NodeId {
  const id = safeIdField(req, name);
  if (id === null || id === 0) throw new EtcdServerError('ErrMemberNotFound');
  return nodeId(id);
}

export function clusterService(ctx: ServiceContext): grpc.UntypedServiceImplementation {
  const { backend } = ctx;
  const members = (list: readonly MemberInfo[]): unknown[] => list.map(memberToPb);
  return {
    // `meridian-force: true` metadata overrides the survival goal check of the changes below.
    MemberAdd: unaryWithMetadata(async (req, md) => {
      const peerUrls = stringsField(req, 'peerURLs');
      checkPeerUrls(peerUrls);
      const res = await backend.memberAdd(peerUrls, boolField(req, 'isLearner'), forceFromMetadata(md));
      return { response: { header: headerToPb(backend.header()), member: memberToPb(res.member), members: members(res.members) } };
    }),
    MemberRemove: unaryWithMetadata(async (req, md) => {
      const list = await backend.memberRemove(memberIdField(req, 'ID'), forceFromMetadata(md));
      return { response: { header: headerToPb(backend.header()), members: members(list) } };
    }),
    MemberUpdate: unary(async (req) => {
      const id = memberIdField(req, 'ID');
      const peerUrls = stringsField(req, 'peerURLs');
      checkPeerUrls(peerUrls);
      const list = await backend.memberUpdate(id, peerUrls);
      return { header: headerToPb(backend.header()), members: members(list) };
    }),
    MemberList: unary(async () => {
      const list = await backend.memberList();
      return { header: headerToPb(backend.header()), members: members(list) };
    }),
    MemberPromote: unaryWithMetadata(async (req, md) => {
      const list = await backend.memberPromote(memberIdField(req, 'ID'), forceFromMetadata(md));
      return { response: { header: headerToPb(backend.header()), members: members(list) } };
    }),
  };
}
