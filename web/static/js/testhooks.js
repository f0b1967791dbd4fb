// Only on pages of a server run with PLAYROOM_TEST_HOOKS: the page's state, for tests of
// what a person sees. Production pages never load this, so never expose their state.
import { state } from "./room.js";

window.playroom = state;
