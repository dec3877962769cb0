import { Global, Module } from '@nestjs/common';
import * as path from 'node:path';
import { config } from '../config.js';
import { DATABASE_FILE } from './database.constants.js';
import { Database } from './database.js';
import { UnitOfWork } from './unit-of-work.js';

@Global()
@Module({
  providers: [{ provide: DATABASE_FILE, useValue: path.join(config.dataDir, 'shop.sqlite') }, Database, UnitOfWork],
  exports: [Database, UnitOfWork],
})
export class DatabaseModule {}
