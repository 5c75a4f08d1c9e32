// The public surface of the member's HTTP endpoints and metrics: what the server process and the CLI use.
// Wiring, in short:
//   const metrics = createMemberMetrics({ member: { id, name, dc, zone } });
//   const http = await startHttpServer({ host, port, metrics, version, status: () => statusJson() });
//   per Ready: metrics.setRaftIndexes(term, commit, applied); metrics.setLeader(role === 'leader', lead !== 0);
//   per WAL sync: metrics.walFsync(seconds); per transport 'rtt' event: metrics.peerRtt(peer, sampleMs / 1000);
//   statusJson() builds a MemberStatusJson (ids through formatMemberId, role through memberRole); on exit: http.close().

export { startHttpServer, HTTP_PATHS, PATH_HEALTH, PATH_METRICS, PATH_STATUS, PATH_VERSION } from './http_server.js';
export type { HttpServerHandle, HttpServerOptions, VersionJson } from './http_server.js';
export { createMemberMetrics, ETCD_COMPAT_VERSION } from './metrics.js';
export type { MemberIdentity, MemberMetrics, MemberMetricsOptions, MvccOp } from './metrics.js';
export { alarmName, assertMemberStatusJson, formatMemberId, memberRole, ALARM_NAMES, MEMBER_ROLES } from './status.js';
export type { AlarmJson, AlarmName, MemberEntryJson, MemberRole, MemberStatusJson } from './status.js';
export { memberHealth, parseHealthQuery, HEALTH_REASON_NO_LEADER } from './health.js';
export type { HealthJson, HealthQuery } from './health.js';
export { HttpErrorCode, HttpListenError } from './errors.js';
export type { HttpErrorJson } from './errors.js';
export { HTTP_CHANNEL_NAME, httpChannel } from './diagnostics.js';
export type { HttpEvent } from './diagnostics.js';
export { HTTP_TUNING_DEFAULT } from './limits.js';
export type { HttpTuning } from './limits.js';
