// test/readme/testing-retry.spec.ts
import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { HostingModule, InjectQueue, QueueWorker, TimeProvider, WorkQueue } from 'nest-hosting';
import { VirtualTime } from 'nest-hosting/testing';

@Injectable()
class Mailer {
  triedAt: number[] = [];
  constructor(private readonly time: TimeProvider) {}

  @QueueWorker('emails', { attempts: 3, backoff: { type: 'exponential', delayMs: 1_000 } })
  send(to: string) {
    this.triedAt.push(this.time.now());
    if (this.triedAt.length < 3) throw new Error(`SMTP refused ${to}`);
  }
}

@Injectable()
class Signup {
  constructor(@InjectQueue('emails') readonly emails: WorkQueue<string>) {}
}

@Module({
  imports: [HostingModule.forRoot(), HostingModule.registerQueue({ name: 'emails' })],
  providers: [Mailer, Signup],
})
class AppModule {}

it('retries a failed email after 1 s, then 2 s', async () => {
  const time = new VirtualTime({ now: 0 });
  const app = await Test.createTestingModule({ imports: [AppModule] })
    .overrideProvider(TimeProvider)
    .useValue(time)
    .compile();
  await app.init();

  await app.get(Signup).emails.enqueue('ada@example.com');
  await time.advance(10_000);
  expect(app.get(Mailer).triedAt).toEqual([0, 1_000, 3_000]);

  await app.close();
});
