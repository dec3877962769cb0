import { Injectable } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { BackgroundService, HostingModule, type HostingOptions } from '../../src/index.js';
import { HOSTING_OPTIONS } from '../../src/hosting.module-definition.js';
import { INVALID_OPTION_AT, SHUTDOWN_ABANDONED } from '../../src/hosting.messages.js';
import { describeDuration } from '../../src/validation/options-validator.js';
import { compileHostingApp } from '../support/hosting-app.js';

/**
 * `forRootAsync` options come from configuration (ConfigService, process.env), where every value
 * is a string: numbers and booleans bind as .NET's configuration binder binds them. Options
 * written in code (`forRoot`) stay strict: there a string is a mistake TypeScript already flags.
 */
const ENV_KEYS = ['HOSTING_TEST_SHUTDOWN_TIMEOUT_MS', 'HOSTING_TEST_EXIT_AFTER_SIGNAL'] as const;

function setEnv(values: Partial<Record<(typeof ENV_KEYS)[number], string>>): void {
  for (const key of ENV_KEYS) delete process.env[key];
  Object.assign(process.env, values);
}

afterEach(() => setEnv({}));

/** The README's shape: ConfigModule, and a factory that reads ConfigService. */
const fromConfig = () =>
  HostingModule.forRootAsync({
    imports: [ConfigModule.forRoot({ ignoreEnvFile: true })],
    inject: [ConfigService],
    useFactory: (config: ConfigService) => ({
      shutdownTimeoutMs: config.get('HOSTING_TEST_SHUTDOWN_TIMEOUT_MS'),
      exitAfterSignal: config.get('HOSTING_TEST_EXIT_AFTER_SIGNAL'),
    }),
  });

async function startFailure(hostingModule: ReturnType<typeof HostingModule.forRootAsync>): Promise<Error | undefined> {
  let app: Awaited<ReturnType<typeof compileHostingApp>>['app'] | undefined;
  try {
    ({ app } = await compileHostingApp({ hostingModule }));
    await app.init();
    return undefined;
  } catch (error) {
    return error as Error;
  } finally {
    await app?.close();
  }
}

describe('HostingModule.forRootAsync: options from configuration', () => {
  it('binds numeric and boolean strings from ConfigService, and the host uses the bound values', async () => {
    setEnv({ HOSTING_TEST_SHUTDOWN_TIMEOUT_MS: ' 300 ', HOSTING_TEST_EXIT_AFTER_SIGNAL: 'False' });
    let release!: () => void;
    let executing!: () => void;
    const started = new Promise<void>((resolve) => (executing = resolve));
    @BackgroundService()
    class Stubborn {
      execute() {
        executing();
        return new Promise<void>((resolve) => (release = resolve)); // ignores its signal
      }
    }
    const { app, logger } = await compileHostingApp({ hostingModule: fromConfig(), providers: [Stubborn] });
    await app.init();
    expect(app.get<HostingOptions>(HOSTING_OPTIONS)).toEqual({ shutdownTimeoutMs: 300, exitAfterSignal: false });
    await started;
    await app.close(); // waits the bound 300 ms (a string would have crashed start-up; the default is 30 s)
    release();
    expect(logger.find('error', SHUTDOWN_ABANDONED(300, ['Stubborn']))).toHaveLength(1);
  });

  it('binds "true" and a decimal string with an exponent', async () => {
    setEnv({ HOSTING_TEST_SHUTDOWN_TIMEOUT_MS: '2.5e3', HOSTING_TEST_EXIT_AFTER_SIGNAL: ' TRUE' });
    const { app } = await compileHostingApp({ hostingModule: fromConfig() });
    await app.init();
    expect(app.get<HostingOptions>(HOSTING_OPTIONS)).toEqual({ shutdownTimeoutMs: 2500, exitAfterSignal: true });
    await app.close();
  });

  it.each(['', '   ', 'abc', '1e400', '0x10', '30s', 'Infinity', '-5', '1e12 0'])(
    'refuses shutdownTimeoutMs %j at start-up, naming forRootAsync and quoting the value as given',
    async (value) => {
      setEnv({ HOSTING_TEST_SHUTDOWN_TIMEOUT_MS: value });
      const failure = await startFailure(fromConfig());
      expect(failure).toBeInstanceOf(TypeError);
      expect(failure?.message).toBe(INVALID_OPTION_AT('HostingModule.forRootAsync', 'shutdownTimeoutMs', describeDuration(), value));
    },
  );

  it('refuses a boolean option that is neither "true" nor "false"', async () => {
    setEnv({ HOSTING_TEST_EXIT_AFTER_SIGNAL: 'yes' });
    const failure = await startFailure(fromConfig());
    expect(failure?.message).toBe(INVALID_OPTION_AT('HostingModule.forRootAsync', 'exitAfterSignal', 'a boolean', 'yes'));
  });

  it('names forRootAsync for a useClass options factory too', async () => {
    @Injectable()
    class HostingConfig {
      create(): HostingOptions {
        return { shutdownTimeoutMs: 'soon' as never };
      }
    }
    const failure = await startFailure(HostingModule.forRootAsync({ useClass: HostingConfig }));
    expect(failure?.message).toBe(INVALID_OPTION_AT('HostingModule.forRootAsync', 'shutdownTimeoutMs', describeDuration(), 'soon'));
  });
});

describe('HostingModule.forRoot: options written in code stay strict', () => {
  it('refuses a numeric string, naming forRoot', () => {
    expect(() => HostingModule.forRoot({ shutdownTimeoutMs: '30000' as never })).toThrow(
      new TypeError(INVALID_OPTION_AT('HostingModule.forRoot', 'shutdownTimeoutMs', describeDuration(), '30000')),
    );
  });
});
