// Simulator seeds 101-200: whole clusters under many faults per seed, histories checked (see seed_suite.ts).

import { seedSuite } from './seed_suite.js';

seedSuite(101, 200);
