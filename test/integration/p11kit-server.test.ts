import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listClientMechanisms } from '../support/p11kit-probe.js';
import { p11KitAvailable, startP11KitServer, type P11KitServer } from '../support/p11kit-server.js';
import { createSoftHsmFixture, softHsmAvailable, type SoftHsmFixture } from '../support/softhsm.js';

const available = softHsmAvailable() && p11KitAvailable();

describe.skipIf(!available)('p11-kit server stand-in', () => {
  let softHsm: SoftHsmFixture;
  let server: P11KitServer;

  beforeAll(async () => {
    softHsm = await createSoftHsmFixture({ tokenLabel: 'net pam' });
    server = await startP11KitServer(softHsm);
  });

  afterAll(async () => {
    await server?.cleanup();
    await softHsm?.cleanup();
  });

  it('lists AES-ECB but neither GCM nor key wrap', async () => {
    const offered = await listClientMechanisms(server, softHsm.tokenLabel);

    // p11-kit 0.24.1 (Debian 12) lists AES-ECB but leaves out AES-CBC, GCM and key wrap, which take
    // parameters that its RPC does not carry.
    expect(offered).toContain(pkcs11js.CKM_AES_ECB);
    expect(offered).toContain(pkcs11js.CKM_SHA256_HMAC);
    expect(offered).not.toContain(pkcs11js.CKM_AES_GCM);
    expect(offered).not.toContain(pkcs11js.CKM_AES_KEY_WRAP);
    expect(offered).not.toContain(pkcs11js.CKM_AES_KEY_WRAP_PAD);
  });

  it('lists no token while stopped', async () => {
    await server.stop();

    expect(server.running).toBe(false);
    await expect(listClientMechanisms(server, softHsm.tokenLabel)).rejects.toThrow(
      /no token labelled/,
    );
  });

  it('serves the token again after restart', async () => {
    await server.restart();

    expect(server.running).toBe(true);
    const offered = await listClientMechanisms(server, softHsm.tokenLabel);
    expect(offered).toContain(pkcs11js.CKM_AES_ECB);
  });
});
