import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeId } from '../util/branded.js';
import { Prng } from '../util/prng.js';
import { StorageCorruptionError, WrongDataDirError } from './errors.js';
import { checkIdentity, decodeIdentity, encodeIdentity, readIdentity, writeIdentity } from './identity.js';
import { SimFileSystem } from './sim_file_system.js';

const ID = { clusterId: 'prod-eu', memberId: nodeId(0x1234_5678_9abc) };

test('the identity round-trips and survives a crash once written', async () => {
  assert.deepEqual(decodeIdentity(encodeIdentity(ID), 'f'), ID);
  const fs = new SimFileSystem(new Prng(1));
  await fs.mkdir('/d');
  await fs.syncDir('/');
  assert.equal(await readIdentity(fs, '/d'), null);
  await writeIdentity(fs, '/d', ID);
  fs.crash();
  fs.restart();
  assert.deepEqual(await readIdentity(fs, '/d'), ID);
});

test('a damaged identity file is corruption, naming the file', () => {
  const bytes = encodeIdentity(ID);
  for (let i = 0; i < bytes.byteLength; i++) {
    const copy = bytes.slice();
    copy[i] = (copy[i] as number) ^ 0x80;
    assert.throws(() => decodeIdentity(copy, '/d/identity'), (e: unknown) => e instanceof StorageCorruptionError && e.file === '/d/identity');
  }
});

test('a directory of another cluster or member is refused, saying whose it is', () => {
  checkIdentity('/d', ID, ID);
  assert.throws(
    () => checkIdentity('/d', ID, { ...ID, memberId: nodeId(2) }),
    (e: unknown) =>
      e instanceof WrongDataDirError &&
      e.code === 'ERR_STORAGE_WRONG_MEMBER' &&
      /belongs to member 20015998343868 of cluster "prod-eu"; refusing to start member 2 of cluster "prod-eu"/.test(e.message),
  );
  assert.throws(() => checkIdentity('/d', ID, { ...ID, clusterId: 'prod-us' }), WrongDataDirError);
});
