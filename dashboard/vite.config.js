import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The build lands in dist/, which host/server embeds into the microlearn binary (its build.rs
// walks the folder). Hashed file names under assets/ let the server cache them for a year;
// index.html is served with no-cache so a rebuilt binary takes effect at once.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    // One chart library and D3 make a ~600 kB bundle before gzip; that is expected here.
    chunkSizeWarningLimit: 900,
  },
  server: {
    // `npm run dev` proxies the API to a running `microlearn serve` (MICROLEARN_URL).
    proxy: { '/v1': process.env.MICROLEARN_URL || 'http://127.0.0.1:8080' },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{js,jsx}'],
  },
});
