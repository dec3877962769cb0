// test/readme/testing-cron.spec.ts
import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { HostingModule, Periodic, TickContext } from 'nest-hosting';
import { VirtualTime } from 'nest-hosting/testing';

@Injectable()
class DailyReport {
  sentFor: Date[] = [];

  @Periodic({ cron: '0 0 * * *', timeZone: 'Asia/Tokyo' }) // midnight in Tokyo
  send(ctx: TickContext) {
    this.sentFor.push(ctx.scheduledAt);
  }
}

it('sends the report at midnight Tokyo time', async () => {
  const time = new VirtualTime({ now: new Date('2026-03-01T14:59:00Z') }); // 23:59 in Tokyo
  @Module({ imports: [HostingModule.forRoot({ timeProvider: time })], providers: [DailyReport] })
  class AppModule {}
  const app = await Test.createTestingModule({ imports: [AppModule] }).compile();
  await app.init();

  await time.advance(60_000);
  expect(app.get(DailyReport).sentFor).toEqual([new Date('2026-03-01T15:00:00Z')]);
  await time.advanceTo(new Date('2026-03-03T12:00:00Z'));
  expect(app.get(DailyReport).sentFor).toHaveLength(2);

  await app.close();
});
