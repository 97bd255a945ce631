import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from './api.js';

/**
 * Load `path` (null skips), keeping the last good data while reloading. `every` (ms) polls.
 * Returns `{data, error, loading, reload, setData}`.
 */
export function useApi(path, { every, query } = {}) {
  const [state, setState] = useState({ data: null, error: null, loading: Boolean(path) });
  const queryKey = query ? JSON.stringify(query) : '';
  const seq = useRef(0);
  const reload = useCallback(async () => {
    if (!path) return;
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await api(path, { query: queryKey ? JSON.parse(queryKey) : undefined });
      if (mine === seq.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (mine === seq.current) setState((s) => ({ data: s.data, error, loading: false }));
    }
  }, [path, queryKey]);
  useEffect(() => {
    setState({ data: null, error: null, loading: Boolean(path) });
    reload();
  }, [reload, path]);
  useEffect(() => {
    if (!every || !path) return undefined;
    const t = setInterval(reload, every);
    return () => clearInterval(t);
  }, [every, path, reload]);
  const setData = useCallback((f) => setState((s) => ({ ...s, data: typeof f === 'function' ? f(s.data) : f })), []);
  return { ...state, reload, setData };
}

/** The current time, refreshed every `ms` while `active` (for live bars and "ago" labels). */
export function useNow(ms = 1000, active = true) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return undefined;
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms, active]);
  return now;
}

/** Call `f` at most once per `ms`, trailing call included. */
export function useThrottled(f, ms) {
  const last = useRef(0);
  const timer = useRef(null);
  const fn = useRef(f);
  fn.current = f;
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    const wait = last.current + ms - Date.now();
    if (wait <= 0) {
      last.current = Date.now();
      fn.current();
    } else if (!timer.current) {
      timer.current = setTimeout(() => {
        timer.current = null;
        last.current = Date.now();
        fn.current();
      }, wait);
    }
  }, [ms]);
}
