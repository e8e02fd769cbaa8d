/** A session on a worker thread of its own: what a host with several sessions starts for each one. */
import { parentEnd } from './link.js';
import { serveSession } from './session.js';
import type { FromSession, ToSession } from './protocol.js';

serveSession(parentEnd<ToSession, FromSession>());
