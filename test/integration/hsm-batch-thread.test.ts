import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import pkcs11js from 'pkcs11js';
import type { PKCS11 } from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  BatchThreadMessage,
  ChunkFields,
  ChunkReply,
} from '../../src/keys/hsm/batch-thread-protocol.js';
import {
  finalizeModule,
  findMasterKey,
  initializeModule,
  listSlots,
  loadModule,
  loginUser,
  selectSlot,
  type HsmLog,
} from '../../src/keys/hsm/index.js';
import { packBytes, unpackBytes } from '../../src/keys/hsm/protocol.js';
import { resolveBatchThreadPath } from '../../src/keys/hsm/worker-path.js';
import { createSoftHsmFixture, softHsmAvailable, type SoftHsmFixture } from '../support/softhsm.js';

const available = softHsmAvailable();

const quietLog: HsmLog = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/**
 * The batch thread on its own: this test thread opens and logs in a session, as the PKCS#11 worker
 * does, and lends it to the thread with each chunk.
 */
describe.skipIf(!available)('PKCS#11 batch thread on SoftHSM', () => {
  let fixture: SoftHsmFixture;
  let pkcs11: PKCS11;
  let session: Buffer;
  let masterKey: Buffer;
  let thread: Worker;
  let nextId = 1;

  beforeAll(async () => {
    fixture = await createSoftHsmFixture();
    await fixture.generateKey('pam-master-key');
    pkcs11 = loadModule(fixture.library);
    initializeModule(pkcs11, fixture.library, quietLog);
    const slot = selectSlot(listSlots(pkcs11), { by: 'tokenLabel', label: fixture.tokenLabel });
    session = pkcs11.C_OpenSession(slot.handle, pkcs11js.CKF_SERIAL_SESSION);
    loginUser(pkcs11, session, fixture.userPin, { label: fixture.tokenLabel, flags: 0 }, quietLog);
    masterKey = findMasterKey(pkcs11, session, 'pam-master-key');
    thread = new Worker(resolveBatchThreadPath(), { workerData: { library: fixture.library } });
  });

  afterAll(async () => {
    await thread?.terminate();
    if (pkcs11 !== undefined) {
      pkcs11.C_CloseSession(session);
      finalizeModule(pkcs11, fixture.library, quietLog);
      pkcs11.close();
    }
    await fixture?.cleanup();
  });

  function abandonFlag(value: number): Int32Array {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    flag[0] = value;
    return flag;
  }

  function sessionFields(abandoned = abandonFlag(0)) {
    return {
      session: new Uint8Array(session),
      masterKey: new Uint8Array(masterKey),
      mechanism: 'aes-256-gcm' as const,
      offered: [pkcs11js.CKM_AES_GCM],
      slotName: 'test slot',
      keyWrap: 'token' as const,
      abandoned,
    };
  }

  function wrapChunk(deks: Buffer[], aads: Buffer[], abandoned?: Int32Array): ChunkFields {
    return {
      kind: 'wrap',
      ...sessionFields(abandoned),
      deks: packBytes(deks, []).bytes,
      aads: packBytes(aads, []),
      reopen: false,
    };
  }

  async function send(chunk: ChunkFields): Promise<ChunkReply> {
    const id = nextId++;
    thread.postMessage({ ...chunk, id });
    for (;;) {
      const [message] = (await once(thread, 'message')) as [BatchThreadMessage];
      if (message.kind === 'reply' && message.id === id) {
        return message;
      }
    }
  }

  it('wraps and unwraps on a lent session', async () => {
    const deks = [randomBytes(32), randomBytes(32), randomBytes(32)];
    const aads = deks.map((_, index) => Buffer.from(`dek:${index}`));

    const wrapped = await send(wrapChunk(deks, aads));
    const opened = await send({
      kind: 'unwrap',
      ...sessionFields(),
      mechanisms: ['aes-256-gcm', 'aes-256-gcm', 'aes-256-gcm'],
      wrapped: packBytes(unpackBytes(wrapped.values), []),
      aads: packBytes(aads, []),
    });

    expect(wrapped.done).toBe(3);
    expect(wrapped.errors).toEqual([null, null, null]);
    expect(opened.done).toBe(3);
    expect(opened.stop).toBeNull();
    expect(unpackBytes(opened.values)).toEqual(deks);
  });

  it('fails a bad item alone', async () => {
    const dek = randomBytes(32);
    const wrapped = await send(wrapChunk([dek], [Buffer.from('dek:right')]));
    const [value] = unpackBytes(wrapped.values);

    const opened = await send({
      kind: 'unwrap',
      ...sessionFields(),
      mechanisms: ['aes-256-gcm', 'aes-256-gcm'],
      wrapped: packBytes([value!, value!], []),
      aads: packBytes([Buffer.from('dek:wrong'), Buffer.from('dek:right')], []),
    });

    expect(opened.done).toBe(2);
    expect(opened.errors[0]).toMatchObject({ kind: 'pkcs11', ckrName: 'CKR_GENERAL_ERROR' });
    expect(opened.errors[1]).toBeNull();
    expect(unpackBytes(opened.values)[1]).toEqual(dek);
  });

  it('stops before any item when abandoned', async () => {
    const reply = await send(
      wrapChunk([randomBytes(32)], [Buffer.from('dek:abandoned')], abandonFlag(1)),
    );

    expect(reply.done).toBe(0);
    expect(reply.stop).toEqual({ kind: 'abandoned' });
  });

  it('stops at a closed session', async () => {
    const slot = selectSlot(listSlots(pkcs11), { by: 'tokenLabel', label: fixture.tokenLabel });
    const closed = pkcs11.C_OpenSession(slot.handle, pkcs11js.CKF_SERIAL_SESSION);
    pkcs11.C_CloseSession(closed);

    const reply = await send({
      ...wrapChunk(
        [randomBytes(32), randomBytes(32)],
        [Buffer.from('dek:a'), Buffer.from('dek:b')],
      ),
      session: new Uint8Array(closed),
    });

    expect(reply.done).toBe(0);
    expect(reply.stop).toMatchObject({ kind: 'pkcs11', ckrName: 'CKR_SESSION_HANDLE_INVALID' });
  });
});
