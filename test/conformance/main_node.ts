/**
 * Entry of the Node bundle (node20, node24): main.ts plus the Node front
 * server, registered first (modules evaluate in import order).
 *
 * @module
 */
import "./front_node.ts";
import "./main.ts";
