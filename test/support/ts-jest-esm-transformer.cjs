'use strict';
/**
 * ts-jest for the Nest 12 (ESM) run, WITH type checking.
 *
 * Jest 30.5 transforms ES modules through a transformer's synchronous `process()` whenever it
 * has one, but ts-jest 29.4 reports type errors in ESM mode only from `processAsync()`: with
 * plain ts-jest the ESM run silently ignores every type error. This subclass makes
 * `process()` raise them too, exactly as `processAsync()` does. Options are ts-jest's own.
 */
const { TsJestTransformer } = require('ts-jest');

class TypeCheckedTsJestTransformer extends TsJestTransformer {
  process(sourceText, sourcePath, transformOptions) {
    const configs = this._configsFor(transformOptions);
    const compiled = this.processWithTs(sourceText, sourcePath, transformOptions);
    if (compiled.diagnostics && compiled.diagnostics.length) {
      throw configs.createTsError(compiled.diagnostics);
    }
    return this.runTsJestHook(sourcePath, sourceText, transformOptions, { code: compiled.code });
  }
}

module.exports = {
  createTransformer(options) {
    return new TypeCheckedTsJestTransformer(options);
  },
};
