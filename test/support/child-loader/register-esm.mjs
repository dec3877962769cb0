/**
 * `node --import <file URL of this> entry.ts`: the Nest 12 (ESM) child. Registers
 * esm-hooks.mjs (Node >= 20.6 `module.register`), which transpiles `.ts` to ES modules,
 * maps `./x.js` to `./x.ts`, and resolves every `@nestjs/*`, `rxjs` and `reflect-metadata`
 * import from compat/nest12/node_modules, the same mapping as the Nest 12 jest run.
 */
import { register } from 'node:module';

register('./esm-hooks.mjs', import.meta.url);
