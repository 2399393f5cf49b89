import { spawn } from 'node:child_process';
import type { P11KitServer } from './p11kit-server.js';

/**
 * Loads p11-kit-client.so in a child process, so that this test process never initialises a
 * module that the product's worker threads load, and returns the CKM_* codes that the client lists
 * for the token labelled `tokenLabel`. A failed call rejects with its CKR name.
 */
export async function listClientMechanisms(
  server: P11KitServer,
  tokenLabel: string,
): Promise<number[]> {
  const script = `
    const pkcs11js = require('pkcs11js');
    const o = JSON.parse(process.argv[1]);
    const p = new pkcs11js.PKCS11();
    p.load(o.module);
    p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    try {
      const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === o.tokenLabel);
      if (slot === undefined) throw new Error('no token labelled ' + o.tokenLabel);
      process.stdout.write(JSON.stringify(p.C_GetMechanismList(slot)));
    } finally {
      p.C_Finalize();
    }
  `;
  const output = await runNode(script, { module: server.clientModule, tokenLabel }, server);
  return JSON.parse(output) as number[];
}

function runNode(script: string, options: object, server: P11KitServer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, JSON.stringify(options)], {
      env: { ...process.env, ...server.clientEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(stdout)
        : reject(new Error(`p11-kit client probe failed (${code}): ${stderr}`)),
    );
  });
}
