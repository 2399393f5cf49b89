import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { registerLibraryUse } from '../../src/keys/hsm/library-users.js';
import { resolveBatchThreadPath, resolveWorkerPath } from '../../src/keys/hsm/worker-path.js';

describe('resolveWorkerPath', () => {
  it('uses the sibling file when running from dist', () => {
    const url = pathToFileURL('/opt/strongroom/dist/keys/hsm/worker-path.js').href;

    expect(resolveWorkerPath(url)).toBe('/opt/strongroom/dist/keys/hsm/pkcs11-worker.js');
  });

  it('maps src to dist when running from TypeScript', () => {
    const url = pathToFileURL('/work/src/app/src/keys/hsm/worker-path.ts').href;

    expect(resolveWorkerPath(url)).toBe('/work/src/app/dist/keys/hsm/pkcs11-worker.js');
  });

  it('finds the batch thread beside the worker', () => {
    const url = pathToFileURL('/work/src/app/src/keys/hsm/batch-threads.ts').href;

    expect(resolveBatchThreadPath(url)).toBe('/work/src/app/dist/keys/hsm/pkcs11-batch-thread.js');
  });

  it('rejects a TypeScript file outside src', () => {
    const url = pathToFileURL('/tmp/worker-path.ts').href;

    expect(() => resolveWorkerPath(url)).toThrow(
      'is neither compiled JavaScript nor under a src folder',
    );
  });
});

describe('registerLibraryUse', () => {
  it('logs out and finalises only for the last user', () => {
    const first = registerLibraryUse('/usr/lib/test-module.so', 1);
    const second = registerLibraryUse('/usr/lib/test-module.so', 1);
    const otherSlot = registerLibraryUse('/usr/lib/test-module.so', 2);

    expect(first.release()).toEqual({ logout: false, finalize: false });
    expect(second.release()).toEqual({ logout: true, finalize: false });
    expect(otherSlot.release()).toEqual({ logout: true, finalize: true });
  });

  it('ignores a second release', () => {
    const use = registerLibraryUse('/usr/lib/other-module.so', 1);

    expect(use.release()).toEqual({ logout: true, finalize: true });
    expect(use.release()).toEqual({ logout: false, finalize: false });
  });
});
