import {
  BadRequestException,
  Controller,
  ForbiddenException,
  Get,
  Header,
  Headers,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
  Req,
  UseGuards,
  type Type,
} from '@nestjs/common';
import { HostLifetime } from '../host/host-lifetime.js';
import { HostingRegistry } from '../registry/hosting.registry.js';
import { DASHBOARD_ACTION_HEADER_MISSING } from './dashboard.messages.js';
import type { ResolvedDashboardOptions } from './dashboard-options.interface.js';
import { ACTION_HEADER, DASHBOARD_CSP, renderDashboardPage } from './dashboard-page.js';
import { takeSnapshot, type DashboardSnapshot } from './dashboard-snapshot.js';

/** The part of a request the dashboard reads, on Express and Fastify alike. */
interface RequestLine {
  originalUrl?: string;
  url?: string;
}

const ACTIONS = ['trigger', 'pause', 'resume'] as const;
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
    ) {}

    /** The HTML page. */
    @Get()
    @Header('Content-Type', 'text/html; charset=utf-8')
    @Header('Cache-Control', 'no-store')
    @Header('Content-Security-Policy', DASHBOARD_CSP)
    @Header('X-Content-Type-Options', 'nosniff')
    @Header('Referrer-Policy', 'no-referrer')
    page(@Req() request: RequestLine): string {
      return renderDashboardPage(takeSnapshot(this.registry, this.lifetime), {
        title: options.title,
        basePath: pathOf(request),
        readOnly: options.readOnly,
        refreshMs: options.refreshMs,
      });
    }

    /** The registry as JSON. */
    @Get('status.json')
    @Header('Cache-Control', 'no-store')
    status(): DashboardSnapshot {
      return takeSnapshot(this.registry, this.lifetime);
    }
  }

  @Controller(options.path)
  class HostingDashboardActionsController {
    constructor(@Inject(HostingRegistry) private readonly registry: HostingRegistry) {}

    /** Run now / pause / resume; only registered with `readOnly: false`. */
    @Post('services/:name/:action')
    @HttpCode(202)
    act(
      @Param('name') name: string,
      @Param('action') action: string,
      @Headers(ACTION_HEADER.toLowerCase()) marker: string | undefined,
    ): { name: string; action: Action } {
      // A custom header cannot be sent cross-site without CORS: this is the CSRF guard.
      if (!marker) throw new ForbiddenException(DASHBOARD_ACTION_HEADER_MISSING(ACTION_HEADER));
      if (!ACTIONS.includes(action as Action)) throw new NotFoundException(`Unknown dashboard action "${action}"`);
      if (!this.registry.get(name)) throw new NotFoundException(`No hosted service named "${name}"`);
      try {
        if (action === 'trigger') void this.registry.trigger(name).catch(() => undefined);
        else this.registry[action as 'pause' | 'resume'](name);
      } catch (error) {
        throw new BadRequestException((error as Error).message);
      }
      return { name, action: action as Action };
    }
  }

  const controllers: Type[] = options.readOnly ? [HostingDashboardController] : [HostingDashboardController, HostingDashboardActionsController];
  if (options.guards?.length) for (const controller of controllers) UseGuards(...options.guards)(controller);
  return controllers;
}
