import {
  BadRequestException,
  Body,
  Controller,
  ForbiddenException,
  Get,
  Header,
  Headers,
  HttpCode,
  Inject,
  NotFoundException,
  Optional,
  Param,
  Post,
  Query,
  Req,
  UseGuards,
  type Type,
} from '@nestjs/common';
import { HostLifetime } from '../host/host-lifetime.js';
import type { CancelResult } from '../interfaces/queue-options.interface.js';
import { HostingRegistry } from '../registry/hosting.registry.js';
import { DASHBOARD_ACTION_HEADER_MISSING, DASHBOARD_ROUTE, UNKNOWN_DASHBOARD_ACTION } from './dashboard.messages.js';
import { idOf, pageOf, toDashboardDeadLetters, type DashboardDeadLetters } from './dashboard-dead-letters.js';
import { crossOriginRefusal } from './dashboard-origin.js';
import type { ActionRequest } from './dashboard-origin.js';
import type { ResolvedDashboardOptions } from './dashboard-options.interface.js';
import { ACTION_HEADER, DASHBOARD_CSP, renderDashboardPage } from './dashboard-page.js';
import { takeSnapshot, type DashboardSnapshot } from './dashboard-snapshot.js';
import { DashboardHistory } from './dashboard-history.js';

/** The part of a request the dashboard reads, on Express and Fastify alike. */
interface RequestLine {
  originalUrl?: string;
  url?: string;
}

const ACTIONS = ['trigger', 'pause', 'resume', 'restart'] as const;
type Action = (typeof ACTIONS)[number];

const DEAD_LETTER_ACTIONS = ['redrive', 'discard'] as const;
type DeadLetterAction = (typeof DEAD_LETTER_ACTIONS)[number];

type QueryString = Record<string, unknown>;

/** The page's own path as the client sees it (global prefix included), without query or trailing slash. */
const pathOf = (request: RequestLine): string => (request.originalUrl ?? request.url ?? '/').split('?')[0]!.replace(/\/+$/, '');

/**
 * Builds the dashboard's controllers for one `register()` call: the route prefix is an option, so
 * the classes are made here rather than declared once with a fixed `@Controller` path.
 */
export function createDashboardControllers(options: ResolvedDashboardOptions): Type[] {
  @Controller(options.path)
  class HostingDashboardController {
    constructor(
      @Inject(HostingRegistry) private readonly registry: HostingRegistry,
      @Inject(HostLifetime) private readonly lifetime: HostLifetime,
      @Optional() @Inject(DashboardHistory) private readonly history?: DashboardHistory,
    ) {}

    /** The HTML page. */
    @Get()
    @Header('Content-Type', 'text/html; charset=utf-8')
    @Header('Cache-Control', 'no-store')
    @Header('Content-Security-Policy', DASHBOARD_CSP)
    @Header('X-Content-Type-Options', 'nosniff')
    @Header('Referrer-Policy', 'no-referrer')
    page(@Req() request: RequestLine): string {
      return renderDashboardPage(takeSnapshot(this.registry, this.lifetime, options.showErrorStacks, this.history), {
        title: options.title,
        basePath: pathOf(request),
        readOnly: options.readOnly,
        refreshMs: options.refreshMs,
      });
    }

    /** The registry as JSON. */
    @Get('status.json')
    @Header('Cache-Control', 'no-store')
    @Header('X-Content-Type-Options', 'nosniff')
    status(): DashboardSnapshot {
      return takeSnapshot(this.registry, this.lifetime, options.showErrorStacks, this.history);
    }

    /**
     * One page of a queue's dead letters, newest first (`?offset=0&limit=20`, limit at most 100): each
     * with its id, attempts, failedAt, error (no stack unless `showErrorStacks`) and its data as JSON
     * text cut after 1,000 characters. 400 for a bad offset or limit, 404 for an unknown name, 409
     * for a unit that is not a queue.
     */
    @Get('queues/:name/dead-letters.json')
    @Header('Cache-Control', 'no-store')
    @Header('X-Content-Type-Options', 'nosniff')
    async deadLetters(@Param('name') name: string, @Query() query: QueryString): Promise<DashboardDeadLetters> {
      const route = DASHBOARD_ROUTE('GET', options.path, 'queues/:name/dead-letters.json');
      const { offset, limit } = asBadRequest(() => pageOf(route, query));
      const page = await asHttpError(() => this.registry.deadLetters(name, { offset, limit }));
      return toDashboardDeadLetters(name, page, offset, limit, options.showErrorStacks);
    }
  }

  @Controller(options.path)
  class HostingDashboardActionsController {
    constructor(@Inject(HostingRegistry) private readonly registry: HostingRegistry) {}

    /**
     * Run now / pause / resume / restart; only registered with `readOnly: false`. Answers 202 at
     * once (a triggered run, a restarted service go on in the background), 403 to a request that is
     * not from the page itself, 404 for an unknown name (`UnknownServiceError`), 409 for a unit of
     * the wrong kind (`ServiceKindError`) or a restart of a service that is not faulted (`ServiceStateError`).
     */
    @Post('services/:name/:action')
    @HttpCode(202)
    @Header('Cache-Control', 'no-store')
    @Header('X-Content-Type-Options', 'nosniff')
    async act(
      @Param('name') name: string,
      @Param('action') action: string,
      @Headers(ACTION_HEADER.toLowerCase()) marker: string | undefined,
      @Req() request: ActionRequest,
    ): Promise<{ name: string; action: Action }> {
      fromThePage(marker, request);
      if (!ACTIONS.includes(action as Action)) throw new NotFoundException(UNKNOWN_DASHBOARD_ACTION(action, ACTIONS));
      if (action === 'trigger') await refusedAtOnce(this.registry.trigger(name));
      else this.registry[action as 'pause' | 'resume' | 'restart'](name); // throws UnknownServiceError / ServiceKindError / ServiceStateError
      return { name, action: action as Action };
    }

    /**
     * Redrive (back to the queue, attempts reset) or discard the queue's dead letter `id` (JSON body
     * `{ "id": "…" }` or `?id=…`), or every one when no id is given; answers 200 with how many. The
     * same checks as the other actions (403), 400 for a bad body or query, 404 for an unknown name
     * or action, 409 for a unit that is not a queue.
     */
    @Post('queues/:name/dead-letters/:action')
    @HttpCode(200)
    @Header('Cache-Control', 'no-store')
    @Header('X-Content-Type-Options', 'nosniff')
    async deadLetterAction(
      @Param('name') name: string,
      @Param('action') action: string,
      @Body() body: unknown,
      @Query() query: QueryString,
      @Headers(ACTION_HEADER.toLowerCase()) marker: string | undefined,
      @Req() request: ActionRequest,
    ): Promise<{ name: string; action: DeadLetterAction; id?: string; count: number }> {
      fromThePage(marker, request);
      if (!DEAD_LETTER_ACTIONS.includes(action as DeadLetterAction)) throw new NotFoundException(UNKNOWN_DASHBOARD_ACTION(action, DEAD_LETTER_ACTIONS));
      const id = asBadRequest(() => idOf(DASHBOARD_ROUTE('POST', options.path, `queues/:name/dead-letters/${action}`), body, query, false));
      const count = await asHttpError(() => (action === 'redrive' ? this.registry.redrive(name, id) : this.registry.discard(name, id)));
      return { name, action: action as DeadLetterAction, ...(id === undefined ? {} : { id }), count };
    }

    /**
     * Cancels the queue's item `id` (JSON body `{ "id": "…" }` or `?id=…`): removed when it waits,
     * its signal aborted when it runs (`HostingRegistry.cancel`); answers 200 with the result. Checks
     * and errors as for dead letters.
     */
    @Post('queues/:name/cancel')
    @HttpCode(200)
    @Header('Cache-Control', 'no-store')
    @Header('X-Content-Type-Options', 'nosniff')
    async cancel(
      @Param('name') name: string,
      @Body() body: unknown,
      @Query() query: QueryString,
      @Headers(ACTION_HEADER.toLowerCase()) marker: string | undefined,
      @Req() request: ActionRequest,
    ): Promise<{ name: string; id: string; result: CancelResult }> {
      fromThePage(marker, request);
      const id = asBadRequest(() => idOf(DASHBOARD_ROUTE('POST', options.path, 'queues/:name/cancel'), body, query, true))!;
      const result = await asHttpError(() => this.registry.cancel(name, id));
      return { name, id, result };
    }
  }

  const controllers: Type[] = options.readOnly ? [HostingDashboardController] : [HostingDashboardController, HostingDashboardActionsController];
  if (options.guards?.length) for (const controller of controllers) UseGuards(...options.guards)(controller);
  return controllers;
}

/**
 * Refuses (403) an action that is not from the dashboard's own page. CSRF: a custom header needs a
 * CORS preflight, which a permissive CORS set-up grants; the browser's own word on where the request
 * comes from (Sec-Fetch-Site, Origin) does not depend on it.
 */
function fromThePage(marker: string | undefined, request: ActionRequest): void {
  if (!marker) throw new ForbiddenException(DASHBOARD_ACTION_HEADER_MISSING(ACTION_HEADER));
  const refusal = crossOriginRefusal(request);
  if (refusal) throw new ForbiddenException(refusal);
}

/** The dashboard's own checks of a request's input throw `TypeError`s: those are a 400. */
function asBadRequest<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    throw error instanceof TypeError ? new BadRequestException(error.message) : error;
  }
}

/**
 * The registry's answer, its errors as HTTP errors: `UnknownServiceError` (404) and `ServiceKindError`
 * (409) are Nest exceptions already; its `TypeError`s for bad input (they name `HostingRegistry.<method>`)
 * are a 400.
 */
async function asHttpError<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof TypeError && error.message.startsWith('HostingRegistry.')) throw new BadRequestException(error.message);
    throw error;
  }
}

/**
 * Waits for `run` only as long as it takes to reject when it is refused: `HostingRegistry.trigger`
 * rejects at once with `UnknownServiceError` or `ServiceKindError`, else resolves when the run ends,
 * which the action does not wait for. A rejection that is already there comes before the next
 * macrotask (`setImmediate`), since promise reactions run first.
 */
async function refusedAtOnce(run: Promise<void>): Promise<void> {
  let refusal: { error: unknown } | undefined;
  run.then(
    () => undefined,
    (error: unknown) => (refusal = { error }),
  );
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (refusal) throw refusal.error;
}
