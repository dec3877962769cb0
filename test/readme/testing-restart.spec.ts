// test/readme/testing-restart.spec.ts
import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { BackgroundService, HostingModule, HostingRegistry, TimeProvider, type HostedBackgroundService } from 'nest-hosting';
import { VirtualTime } from 'nest-hosting/testing';

@BackgroundService({ onError: 'restart', restart: { maxRestarts: 5, initialDelayMs: 1_000, maxDelayMs: 60_000 } })
class FeedConsumer implements HostedBackgroundService {
  async execute() {
    throw new Error('broker unreachable');
  }
}

@Module({ imports: [HostingModule.forRoot()], providers: [FeedConsumer] })
class AppModule {}

it('restarts after 1 s, 2 s, then 4 s', async () => {
  const time = new VirtualTime();
  const app = await Test.createTestingModule({ imports: [AppModule] })
    .overrideProvider(TimeProvider)
    .useValue(time)
    .compile();
  await app.init();
  const runs = () => app.get(HostingRegistry).get('FeedConsumer')?.runs;

  await time.advance(0);
  expect(runs()).toBe(1);
  await time.advance(1_000);
  expect(runs()).toBe(2);
  await time.advance(2_000);
  expect(runs()).toBe(3);
  await time.advance(3_999);
  expect(runs()).toBe(3);
  await time.advance(1);
  expect(runs()).toBe(4);

  await app.close();
});
