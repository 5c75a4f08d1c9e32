// GET /health as etcd answers it (server/etcdserver/api/etcdhttp/health.go): alarms first, then the leader,
// with etcd's reasons, its `exclude=<ALARM>` and `serializable=true` query parameters, and its JSON shape.

import { ALARM_NAMES, type AlarmName, type MemberStatusJson } from './status.js';

/** etcd's body: both fields are strings, "true"/"false" included, because etcdctl parses it that way. */
export interface HealthJson {
  readonly health: 'true' | 'false';
  readonly reason: string;
}

export const HEALTH_REASON_NO_LEADER = 'RAFT NO LEADER';

export interface HealthQuery {
  /** Alarms that do not make the member unhealthy (repeatable `exclude=NOSPACE`). */
  readonly excludedAlarms: ReadonlySet<AlarmName>;
  /** `serializable=true`: check only this member, not that the cluster has a leader (a liveness probe). */
  readonly serializable: boolean;
}

/** Unknown alarm names in `exclude` are ignored, as etcd does. */
export function parseHealthQuery(params: URLSearchParams): HealthQuery {
  const excludedAlarms = new Set<AlarmName>();
  for (const value of params.getAll('exclude')) {
    const known = ALARM_NAMES.find((name) => name === value);
    if (known !== undefined) excludedAlarms.add(known);
  }
  return { excludedAlarms, serializable: params.get('serializable') === 'true' };
}

export function memberHealth(status: MemberStatusJson, query: HealthQuery): HealthJson {
  const alarm = status.alarms.find((a) => !query.excludedAlarms.has(a.alarm));
  if (alarm !== undefined) return { health: 'false', reason: `ALARM ${alarm.alarm}` };
  if (!query.serializable && !status.hasLeader) return { health: 'false', reason: HEALTH_REASON_NO_LEADER };
  return { health: 'true', reason: '' };
}
