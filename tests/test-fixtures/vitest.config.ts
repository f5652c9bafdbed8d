import { defineConfig } from 'vitest/config';
import { aeflowVitest } from '../../vitest.shared';

export default defineConfig(aeflowVitest());
