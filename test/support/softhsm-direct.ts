/** Usage flags of a key made by generateAesKeyWithUsage; each defaults to true. */
export interface KeyUsage {
  encrypt?: boolean;
  decrypt?: boolean;
  wrap?: boolean;
  unwrap?: boolean;
}

/**
 * Generates an AES-256 key with chosen usage flags directly through PKCS#11, for key states that
 * OpenSC 0.23's pkcs11-tool cannot make (it has no option to clear CKA_DECRYPT). Runs in a child
 * process of its own, so that this test process never initialises the module that the worker
 * threads of the product load.
 */
export async function generateAesKeyWithUsage(options: {
  library: string;
  configPath: string;
  tokenLabel: string;
  userPin: string;
  keyLabel: string;
  usage: KeyUsage;
}): Promise<void> {
  const { spawn } = await import('node:child_process');
  const script = `
    const pkcs11js = require('pkcs11js');
    const o = JSON.parse(process.argv[1]);
    const p = new pkcs11js.PKCS11();
    p.load(o.library);
    p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    try {
      const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === o.tokenLabel);
      const session = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      p.C_Login(session, pkcs11js.CKU_USER, o.userPin);
      p.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
        { type: pkcs11js.CKA_LABEL, value: o.keyLabel },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
        { type: pkcs11js.CKA_ENCRYPT, value: o.usage.encrypt !== false },
        { type: pkcs11js.CKA_DECRYPT, value: o.usage.decrypt !== false },
        { type: pkcs11js.CKA_WRAP, value: o.usage.wrap !== false },
        { type: pkcs11js.CKA_UNWRAP, value: o.usage.unwrap !== false },
      ]);
      p.C_Logout(session);
      p.C_CloseSession(session);
    } finally {
      p.C_Finalize();
    }
  `;

  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, JSON.stringify(options)], {
      env: { ...process.env, SOFTHSM2_CONF: options.configPath },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`key generation failed (${code}): ${stderr}`)),
    );
  });
}

/**
 * Generates an audit checkpoint key directly through PKCS#11 in a child process: a 256-bit
 * CKK_GENERIC_SECRET key for CKM_SHA256_HMAC, or with `aes` an AES-256 key for CKM_AES_CMAC,
 * sensitive, never extractable, with CKA_SIGN and CKA_VERIFY unless `usage` clears them.
 */
export async function generateAuditKeyDirect(options: {
  library: string;
  configPath: string;
  tokenLabel: string;
  userPin: string;
  keyLabel: string;
  aes?: boolean;
  extractable?: boolean;
  sign?: boolean;
}): Promise<void> {
  const { spawn } = await import('node:child_process');
  const script = `
    const pkcs11js = require('pkcs11js');
    const o = JSON.parse(process.argv[1]);
    const p = new pkcs11js.PKCS11();
    p.load(o.library);
    p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    try {
      const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === o.tokenLabel);
      const session = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      p.C_Login(session, pkcs11js.CKU_USER, o.userPin);
      p.C_GenerateKey(
        session,
        { mechanism: o.aes ? pkcs11js.CKM_AES_KEY_GEN : pkcs11js.CKM_GENERIC_SECRET_KEY_GEN },
        [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
          { type: pkcs11js.CKA_KEY_TYPE, value: o.aes ? pkcs11js.CKK_AES : pkcs11js.CKK_GENERIC_SECRET },
          { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
          { type: pkcs11js.CKA_LABEL, value: o.keyLabel },
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_PRIVATE, value: true },
          { type: pkcs11js.CKA_SENSITIVE, value: true },
          { type: pkcs11js.CKA_EXTRACTABLE, value: o.extractable === true },
          { type: pkcs11js.CKA_SIGN, value: o.sign !== false },
          { type: pkcs11js.CKA_VERIFY, value: true },
        ],
      );
      p.C_Logout(session);
      p.C_CloseSession(session);
    } finally {
      p.C_Finalize();
    }
  `;

  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, JSON.stringify(options)], {
      env: { ...process.env, SOFTHSM2_CONF: options.configPath },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`key generation failed (${code}): ${stderr}`)),
    );
  });
}
