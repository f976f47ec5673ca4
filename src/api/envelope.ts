import type { Cause } from '../core/errors.js';

/**
 * Kuma's error body. Current Kuma sends both its legacy fields (`title`, `details`, `causes`) and the
 * RFC 7807-style ones (`type`, `status`, `detail`, `invalid_parameters`); we emit both so old and new
 * clients (kumactl of any version, the GUI, scripts) read it.
 */
export interface ErrorEnvelope {
  type: '/std-errors';
  status: number;
  title: string;
  detail: string;
  details: string;
  causes: Cause[];
  invalid_parameters: Array<{ field: string; reason: string }>;
}

export function envelope(status: number, title: string, details: string, causes: Cause[] = []): ErrorEnvelope {
  return {
    type: '/std-errors',
    status,
    title,
    detail: details,
    details,
    causes,
    invalid_parameters: causes.map((c) => ({ field: c.field, reason: c.message })),
  };
}

/** An error a route throws to answer with a given status and envelope. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly title: string,
    readonly details: string,
    readonly causes: Cause[] = [],
  ) {
    super(details);
    this.name = 'HttpError';
  }
}
