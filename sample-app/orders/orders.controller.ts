import { BadRequestException, Body, Controller, Get, HttpCode, NotFoundException, Param, ParseIntPipe, Post } from '@nestjs/common';
import { OrdersRepository, type Order, type OrderLine } from './orders.repository.js';

interface PlaceOrderBody {
  customerEmail?: unknown;
  items?: unknown;
}

@Controller('orders')
export class OrdersController {
  constructor(private readonly orders: OrdersRepository) {}

  /**
   * Stores the order with its confirmation email's job (one transaction, through the outbox) and
   * answers at once: the email goes out in the background. Nothing here waits for the queue, so a
   * Redis outage or a shutdown in progress does not fail the order.
   */
  @Post()
  @HttpCode(202)
  place(@Body() body: PlaceOrderBody): Order {
    const { customerEmail, lines } = validate(body);
    const placed = this.orders.place(customerEmail, lines);
    if ('unknownSkus' in placed) throw new BadRequestException(`Unknown SKU(s): ${placed.unknownSkus.join(', ')}`);
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
