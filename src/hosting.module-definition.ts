import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { HostingOptions } from './interfaces/hosting-options.interface.js';

export const {
  ConfigurableModuleClass: HostingConfigurableModule,
  MODULE_OPTIONS_TOKEN: HOSTING_OPTIONS,
  OPTIONS_TYPE: HOSTING_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: HOSTING_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<HostingOptions>({ moduleName: 'Hosting' })
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: true }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();
