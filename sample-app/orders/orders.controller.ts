import { BadRequestException, Body, Controller, Get, HttpCode, Logger, NotFoundException, Param, ParseIntPipe, Post } from '@nestjs/common';
import { InjectQueue, QueueClosedError, QueueUnavailableError, WorkQueue } from '../../src/index.js';
import { EMAILS_QUEUE, type EmailJob } from './email-job.js';
import { OrdersRepository, type Order, type OrderLine } from './orders.repository.js';

interface PlaceOrderBody {
  customerEmail?: unknown;
  items?: unknown;
}

@Controller('orders')
export class OrdersController {
  private readonly logger = new Logger(OrdersController.name);

  constructor(
    private readonly orders: OrdersRepository,
    @InjectQueue(EMAILS_QUEUE) private readonly emails: WorkQueue<EmailJob>,
  ) {}

  /** Stores the order, queues its confirmation email and answers at once: the email goes out in the background. */
  @Post()
  @HttpCode(202)
  async place(@Body() body: PlaceOrderBody): Promise<Order> {
    const { customerEmail, lines } = validate(body);
    const placed = this.orders.place(customerEmail, lines);
    if ('unknownSkus' in placed) throw new BadRequestException(`Unknown SKU(s): ${placed.unknownSkus.join(', ')}`);
    try {
      await this.emails.enqueue({ orderId: placed.orderId });
      this.orders.markQueued(placed.orderId);
    } catch (error) {
      // Shutting down, or Redis unreachable: the order is placed all the same. Its email stays in the
      // outbox (the database is the source of truth), and emails.redeliver queues it within a minute.
      if (!(error instanceof QueueClosedError || error instanceof QueueUnavailableError)) throw error;
      this.logger.warn(`Order #${placed.orderId}: ${error.message}; its email waits in the outbox`);
    }
    return this.orders.find(placed.orderId)!;
  }

  /** The order with the status of its confirmation email. */
  @Get(':id')
  get(@Param('id', ParseIntPipe) id: number): Order {
    const order = this.orders.find(id);
    if (!order) throw new NotFoundException(`No order #${id}`);
    return order;
  }
}

function validate(body: PlaceOrderBody): { customerEmail: string; lines: OrderLine[] } {
  const { customerEmail, items } = body ?? {};
  if (typeof customerEmail !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(customerEmail))
    throw new BadRequestException('customerEmail must be an email address');
  if (!Array.isArray(items) || items.length === 0) throw new BadRequestException('items must be a non-empty array');
  const lines = items.map((item: { sku?: unknown; quantity?: unknown }) => {
    if (typeof item?.sku !== 'string' || !Number.isInteger(item.quantity) || (item.quantity as number) < 1)
      throw new BadRequestException('each item needs a sku and a positive integer quantity');
    return { sku: item.sku, quantity: item.quantity as number };
  });
  return { customerEmail, lines };
}
