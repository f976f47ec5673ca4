/** One problem with a request, in Kuma's `causes[{field, message}]` shape. */
export interface Cause {
  /** Path of the offending field, e.g. `networking.inbound[0].port`; empty for the whole object. */
  field: string;
  message: string;
}

/** The input is invalid; `causes` lists every problem found, not just the first. */
export class InvalidError extends Error {
  readonly kind = 'invalid';
  constructor(
    message: string,
    readonly causes: Cause[] = [],
  ) {
    super(message);
    this.name = 'InvalidError';
  }
}

/** The resource does not exist. */
export class NotFoundError extends Error {
  readonly kind = 'not-found';
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** The resource already exists (a create raced another create). */
export class AlreadyExistsError extends Error {
  readonly kind = 'already-exists';
  constructor(message: string) {
    super(message);
    this.name = 'AlreadyExistsError';
  }
}

/** The resource changed since it was read (optimistic concurrency: stale version). */
export class ConflictError extends Error {
  readonly kind = 'conflict';
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

export const isInvalid = (e: unknown): e is InvalidError => e instanceof InvalidError;
export const isNotFound = (e: unknown): e is NotFoundError => e instanceof NotFoundError;
export const isAlreadyExists = (e: unknown): e is AlreadyExistsError => e instanceof AlreadyExistsError;
export const isConflict = (e: unknown): e is ConflictError => e instanceof ConflictError;

/** The caller did not prove who it is (missing, invalid, expired or revoked credential). */
export class UnauthenticatedError extends Error {
  readonly kind = 'unauthenticated';
  constructor(message: string) {
    super(message);
    this.name = 'UnauthenticatedError';
  }
}

/** The caller is known but not allowed this (e.g. a valid token for another dataplane). */
export class ForbiddenError extends Error {
  readonly kind = 'forbidden';
  constructor(message: string) {
    super(message);
    this.name = 'ForbiddenError';
  }
}

export const isUnauthenticated = (e: unknown): e is UnauthenticatedError => e instanceof UnauthenticatedError;
export const isForbidden = (e: unknown): e is ForbiddenError => e instanceof ForbiddenError;

/**
 * The store cannot be reached (database down, restarting, connection lost). Nothing about the
 * request is wrong: the API answers 503 with `Retry-After`, and the reconciler retries.
 */
export class StoreUnavailableError extends Error {
  readonly kind = 'unavailable';
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

export const isStoreUnavailable = (e: unknown): e is StoreUnavailableError => e instanceof StoreUnavailableError;
