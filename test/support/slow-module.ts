import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const SOURCE = join(import.meta.dirname, '..', 'fixtures', 'slow-pkcs11.c');

/**
 * Tells whether the system C compiler `cc` runs. Without it the slow-module tests are skipped
 * with a message, except under CI (CI set), where the missing compiler fails the run.
 */
export function compilerAvailable(): boolean {
  const result = spawnSync('cc', ['--version'], { stdio: 'ignore' });
  if (result.error === undefined && result.status === 0) {
    return true;
  }
  const message =
    'the slow PKCS#11 module tests need a C compiler (apt-get install build-essential)';
  if (process.env['CI'] !== undefined && process.env['CI'] !== '') {
    throw new Error(`${message}, and CI is set, so they must not be skipped`);
  }
  console.warn(`skipping: ${message}`);
  return false;
}

/**
 * Compiles test/fixtures/slow-pkcs11.c into `directory` and returns the path of the module. The
 * module forwards every call to the library in SLOW_PKCS11_TARGET and sleeps SLOW_PKCS11_DELAY_MS
 * before each C_Encrypt, C_Decrypt, C_WrapKey and C_UnwrapKey. With SLOW_PKCS11_FLIP_DECRYPT=N it
 * flips the first bit of every Nth plaintext that C_Decrypt returns in the process.
 */
export function buildSlowModule(directory: string): string {
  const output = join(directory, 'slow-pkcs11.so');
  const result = spawnSync('cc', ['-shared', '-fPIC', '-O2', '-o', output, SOURCE, '-ldl'], {
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new Error(`cc failed to build ${SOURCE}:\n${result.stderr}`);
  }
  return output;
}
