// Simulator seeds 1-100: whole clusters under many faults per seed, histories checked (see seed_suite.ts).

import { seedSuite } from './seed_suite.js';

seedSuite(1, 100);
