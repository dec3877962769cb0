import {
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
  Req,
  UseGuards,
  type Type,
} from '@nestjs/common';
import { HostLifetime } from '../host/host-lifetime.js';
import { HostingRegistry } from '../registry/hosting.registry.js';
import { DASHBOARD_ACTION_HEADER_MISSING, UNKNOWN_DASHBOARD_ACTION } from './dashboard.messages.js';
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
      // CSRF: a custom header needs a CORS preflight, which a permissive CORS set-up grants; the
      // browser's own word on where the request comes from (Sec-Fetch-Site, Origin) does not depend on it.
      if (!marker) throw new ForbiddenException(DASHBOARD_ACTION_HEADER_MISSING(ACTION_HEADER));
      const refusal = crossOriginRefusal(request);
      if (refusal) throw new ForbiddenException(refusal);
      if (!ACTIONS.includes(action as Action)) throw new NotFoundException(UNKNOWN_DASHBOARD_ACTION(action, ACTIONS));
      if (action === 'trigger') await refusedAtOnce(this.registry.trigger(name));
      else this.registry[action as 'pause' | 'resume' | 'restart'](name); // throws UnknownServiceError / ServiceKindError / ServiceStateError
      return { name, action: action as Action };
    }
  }

  const controllers: Type[] = options.readOnly ? [HostingDashboardController] : [HostingDashboardController, HostingDashboardActionsController];
  if (options.guards?.length) for (const controller of controllers) UseGuards(...options.guards)(controller);
  return controllers;
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
