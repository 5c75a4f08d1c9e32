// Types for the parts of the untyped npm package node-zookeeper-client (1.1.x) that the compatibility tests
// and the ZooKeeper benchmark use; checked against its index.js.

declare module 'node-zookeeper-client' {
  export interface ZkException extends Error {
    getCode(): number;
    getName(): string;
  }
  export interface ZkState {
    getName(): string;
    getCode(): number;
  }
  export interface ZkEvent {
    type: number;
    name: string;
    path: string;
    getType(): number;
    getName(): string;
    getPath(): string;
  }
  export interface ZkStat {
    czxid: Buffer;
    mzxid: Buffer;
    ctime: Buffer;
    mtime: Buffer;
    version: number;
    cversion: number;
    aversion: number;
    ephemeralOwner: Buffer;
    dataLength: number;
    numChildren: number;
    pzxid: Buffer;
  }
  export interface ZkAcl {
    permission: number;
    id: { scheme: string; id: string };
  }
  export interface ZkTxnResult {
    type: number;
    path?: string;
    err?: number;
    stat?: ZkStat;
  }
  export interface Transaction {
    create(path: string, data?: Buffer | null, acls?: ZkAcl[], mode?: number): Transaction;
    check(path: string, version?: number): Transaction;
    setData(path: string, data: Buffer | null, version?: number): Transaction;
    remove(path: string, version?: number): Transaction;
    commit(cb: (err: ZkException | null, results: ZkTxnResult[]) => void): void;
  }
  type Watcher = (event: ZkEvent) => void;
  export interface Client {
    connect(): void;
    close(): void;
    on(event: 'state', cb: (state: ZkState) => void): void;
    once(event: 'connected' | 'disconnected' | 'expired' | 'authenticationFailed', cb: () => void): void;
    getState(): ZkState;
    getSessionId(): Buffer;
    getSessionPassword(): Buffer;
    getSessionTimeout(): number;
    addAuthInfo(scheme: string, auth: Buffer): void;
    create(path: string, data: Buffer | null, acls: ZkAcl[], mode: number, cb: (err: ZkException | null, path: string) => void): void;
    create(path: string, data: Buffer | null, mode: number, cb: (err: ZkException | null, path: string) => void): void;
    remove(path: string, version: number, cb: (err: ZkException | null) => void): void;
    setData(path: string, data: Buffer | null, version: number, cb: (err: ZkException | null, stat: ZkStat) => void): void;
    getData(path: string, watcher: Watcher | undefined, cb: (err: ZkException | null, data: Buffer, stat: ZkStat) => void): void;
    exists(path: string, watcher: Watcher | undefined, cb: (err: ZkException | null, stat: ZkStat | null) => void): void;
    getChildren(path: string, watcher: Watcher | undefined, cb: (err: ZkException | null, children: string[], stat: ZkStat) => void): void;
    getACL(path: string, cb: (err: ZkException | null, acls: ZkAcl[], stat: ZkStat) => void): void;
    transaction(): Transaction;
  }
  export interface ClientOptions {
    sessionTimeout?: number;
    spinDelay?: number;
    retries?: number;
  }
  export function createClient(connectionString: string, options?: ClientOptions): Client;
  export const CreateMode: { PERSISTENT: 0; EPHEMERAL: 1; PERSISTENT_SEQUENTIAL: 2; EPHEMERAL_SEQUENTIAL: 3 };
  export const Exception: {
    OK: 0; NO_NODE: -101; NO_AUTH: -102; BAD_VERSION: -103; NO_CHILDREN_FOR_EPHEMERALS: -108; NODE_EXISTS: -110;
    NOT_EMPTY: -111; SESSION_EXPIRED: -112; CONNECTION_LOSS: -4;
  };
  export const Event: { NODE_CREATED: 1; NODE_DELETED: 2; NODE_DATA_CHANGED: 3; NODE_CHILDREN_CHANGED: 4 };
  export const ACL: { OPEN_ACL_UNSAFE: ZkAcl[]; CREATOR_ALL_ACL: ZkAcl[] };
  const zookeeper: {
    createClient: typeof createClient;
    CreateMode: typeof CreateMode;
    Exception: typeof Exception;
    Event: typeof Event;
    ACL: typeof ACL;
  };
  export default zookeeper;
}
