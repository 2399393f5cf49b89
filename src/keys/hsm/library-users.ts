import { resolve } from 'node:path';

/**
 * Open HSM providers in this process, counted per module path and slot ID. A PKCS#11 module is
 * loaded once per process and its login state belongs to the token, so one provider that calls
 * C_Logout or C_Finalize would break every other provider on the same token or module.
 */
const users = new Map<string, Map<number, number>>();

/** One provider's use of a module and slot, released when the provider closes. */
export interface LibraryUse {
  /** Ends the use and returns whether it was the last on the slot (log out) and on the module (finalise). */
  release(): { logout: boolean; finalize: boolean };
}

/** Tells whether an open provider in this process uses the module at `library`. */
export function isLibraryInUse(library: string): boolean {
  return users.has(resolve(library));
}

/** Records that a provider has opened `slotId` through the module at `library`. */
export function registerLibraryUse(library: string, slotId: number): LibraryUse {
  const path = resolve(library);
  const slots = users.get(path) ?? new Map<number, number>();
  users.set(path, slots);
  slots.set(slotId, (slots.get(slotId) ?? 0) + 1);

  let released = false;
  return {
    release() {
      if (released) {
        return { logout: false, finalize: false };
      }
      released = true;

      const remaining = (slots.get(slotId) ?? 1) - 1;
      if (remaining > 0) {
        slots.set(slotId, remaining);
        return { logout: false, finalize: false };
      }
      slots.delete(slotId);
      if (slots.size > 0) {
        return { logout: true, finalize: false };
      }
      users.delete(path);
      return { logout: true, finalize: true };
    },
  };
}
