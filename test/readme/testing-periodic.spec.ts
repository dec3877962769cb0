// test/readme/testing-periodic.spec.ts
import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { HostingModule, Periodic, TimeProvider } from 'nest-hosting';
import { VirtualTime } from 'nest-hosting/testing';

@Injectable()
class Cleanup {
  purged = 0;

  @Periodic(60_000)
  purge() {
    this.purged++;
  }
}

@Module({ imports: [HostingModule.forRoot()], providers: [Cleanup] })
class AppModule {}

it('purges once a minute', async () => {
  const time = new VirtualTime();
  const app = await Test.createTestingModule({ imports: [AppModule] })
    .overrideProvider(TimeProvider)
    .useValue(time)
    .compile();
  await app.init();

  await time.advance(5 * 60_000); // five minutes, no real waiting
  expect(app.get(Cleanup).purged).toBe(5);

  await app.close();
});
