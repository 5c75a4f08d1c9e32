// ZooKeeper's protocol tables, one place each: op codes (ZooDefs.OpCode), error codes (KeeperException.Code),
// watch event types and keeper states (Watcher.Event), create modes (CreateMode), permissions and special xids.

export const OpCode = {
  notification: 0, create: 1, delete: 2, exists: 3, getData: 4, setData: 5, getACL: 6, setACL: 7, getChildren: 8,
  sync: 9, ping: 11, getChildren2: 12, check: 13, multi: 14, create2: 15, reconfig: 16, checkWatches: 17,
  removeWatches: 18, createContainer: 19, deleteContainer: 20, createTTL: 21, multiRead: 22, auth: 100,
  setWatches: 101, sasl: 102, getEphemerals: 103, getAllChildrenNumber: 104, setWatches2: 105, addWatch: 106,
  whoAmI: 107, createSession: -10, closeSession: -11, error: -1,
} as const;
export type OpCode = (typeof OpCode)[keyof typeof OpCode];

export const ErrorCode = {
  OK: 0, SystemError: -1, RuntimeInconsistency: -2, DataInconsistency: -3, ConnectionLoss: -4, MarshallingError: -5,
  Unimplemented: -6, OperationTimeout: -7, BadArguments: -8, UnknownSession: -12, NewConfigNoQuorum: -13,
  ReconfigInProgress: -14, APIError: -100, NoNode: -101, NoAuth: -102, BadVersion: -103,
  NoChildrenForEphemerals: -108, NodeExists: -110, NotEmpty: -111, SessionExpired: -112, InvalidCallback: -113,
  InvalidACL: -114, AuthFailed: -115, SessionMoved: -118, NotReadOnly: -119, EphemeralOnLocalSession: -120,
  NoWatcher: -121, RequestTimeout: -122, ReconfigDisabled: -123, QuotaExceeded: -125, Throttled: -127,
} as const;
export type ErrorName = keyof typeof ErrorCode;
export type ErrorCode = (typeof ErrorCode)[ErrorName];

export const EventType = {
  None: -1, NodeCreated: 1, NodeDeleted: 2, NodeDataChanged: 3, NodeChildrenChanged: 4, DataWatchRemoved: 5,
  ChildWatchRemoved: 6, PersistentWatchRemoved: 7,
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

export const KeeperState = {
  Disconnected: 0, SyncConnected: 3, AuthFailed: 4, ConnectedReadOnly: 5, SaslAuthenticated: 6, Expired: -112, Closed: 7,
} as const;
export type KeeperState = (typeof KeeperState)[keyof typeof KeeperState];

/** CreateMode's flag values, as the create request carries them. */
export const CreateFlag = {
  Persistent: 0, Ephemeral: 1, PersistentSequential: 2, EphemeralSequential: 3, Container: 4, PersistentWithTtl: 5,
  PersistentSequentialWithTtl: 6,
} as const;
export type CreateFlag = (typeof CreateFlag)[keyof typeof CreateFlag];

export function isCreateFlag(n: number): n is CreateFlag {
  return Number.isInteger(n) && n >= 0 && n <= 6;
}

export const Perm = { Read: 1, Write: 2, Create: 4, Delete: 8, Admin: 16, All: 31 } as const;

/** addWatch modes. */
export const AddWatchMode = { Persistent: 0, PersistentRecursive: 1 } as const;
/** removeWatches / checkWatches watcher types. */
export const WatcherType = { Children: 1, Data: 2, Any: 3 } as const;

/** Reply xids with a meaning of their own. */
export const Xid = { Notification: -1, Ping: -2, Auth: -4, SetWatches: -8 } as const;

export function errorName(code: number): string {
  for (const [name, value] of Object.entries(ErrorCode)) if (value === code) return name;
  return `Code(${code})`;
}
