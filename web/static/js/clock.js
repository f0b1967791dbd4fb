// Times of day as people here read them: 24-hour, hours and minutes ("14:05"), whatever
// the browser's own language would choose.

/** `when` (a Date, an ISO string or ms since the epoch) as "HH:MM", 24-hour. */
export function clock(when = new Date()) {
  return new Date(when).toLocaleTimeString([], {
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  });
}
