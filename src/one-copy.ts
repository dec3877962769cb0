/**
 * One copy in memory. The package ships two full builds, dist/cjs and dist/esm: an ES-module app
 * whose CommonJS dependency also requires `nest-hosting` loads both. Nest finds providers and
 * modules by class identity, and users test errors with `instanceof`, so every class and token
 * that carries identity is made process-wide here, where it is defined: the first copy of this
 * version to load registers it on a global symbol, and every later copy exports that one instead.
 * The key holds the version, so two different versions of the package stay apart.
 *
 * Floor 0: imports nothing.
 */

/** The package's name and version (test/package/dual-package.spec.ts checks it against package.json). */
export const PACKAGE_NAME = 'nest-hosting';
export const PACKAGE_VERSION = '0.1.0';

/** `Symbol.for`, so that every copy (and every realm of the process) finds the same shelf. */
const SHELF = Symbol.for(`${PACKAGE_NAME}@${PACKAGE_VERSION}`);

function shelf(): Map<string, unknown> {
  const holder = globalThis as { [SHELF]?: Map<string, unknown> };
  let found = holder[SHELF];
  if (!found) {
    found = new Map();
    Object.defineProperty(globalThis, SHELF, { value: found, enumerable: false, writable: false, configurable: true });
  }
  return found;
}

/** The value registered under `name` by the first copy of this version to load; `value` when this copy is the first. */
export function oneCopy<T>(name: string, value: T): T {
  const values = shelf();
  if (values.has(name)) return values.get(name) as T;
  values.set(name, value);
  return value;
}

/**
 * Class decorator: the class exported under this name is the first copy's. Put it FIRST (above
 * `@Injectable()`, `@Module(...)`): decorators apply bottom-up, so it must see the class after
 * the others have decorated it, and the others must not decorate the first copy's class again.
 * The name is explicit so that a minifier renaming classes cannot split or merge entries.
 */
export function OneCopy(name: string) {
  return <C extends abstract new (...args: never) => unknown>(target: C): C => oneCopy(name, target);
}
